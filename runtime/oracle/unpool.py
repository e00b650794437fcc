"""NumPy oracle of MaxUnpool2d (added with the custom-op layers)."""
