"""Identity resolution: which source records are the same person, and the stable customer ids."""
