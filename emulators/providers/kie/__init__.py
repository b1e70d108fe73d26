"""The kie.ai emulator (../shared/providers/kie.md and kie-extra.md)."""
