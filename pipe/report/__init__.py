"""Report mode's building blocks: small modules, plain data in and out, no HTTP except publish and post."""
