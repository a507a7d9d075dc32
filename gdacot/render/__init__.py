"""Rendering: videos of evaluated episodes."""
