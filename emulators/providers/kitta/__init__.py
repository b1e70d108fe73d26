"""The Kitta AI emulator (../shared/providers/kitta.md and kitta-extra.md)."""
