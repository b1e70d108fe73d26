"""The kai emulator: an OpenAI-compatible gateway (../shared/providers/kai.md)."""
