"""Body maps: the project's body diagrams, marks placed on them, and their
rendering (inline SVG on screen, PNG with Pillow in the printed report)."""
