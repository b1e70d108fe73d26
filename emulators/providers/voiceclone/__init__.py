"""The Voice Clone & TTS API emulator (../shared/providers/voiceclone.md)."""
