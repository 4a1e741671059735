"""Models of the augment app."""
