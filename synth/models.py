"""Models of the synth app."""
