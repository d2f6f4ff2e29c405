"""Adversarial tests: each case reproduces an attack that once worked (or could
have) and pins the fix. CI runs this folder with the rest of the suite; add to it
whenever a hole is found."""
