"""The KreadoAI API V3 emulator (../shared/providers/kreado.md)."""
