"""Parameter-accuracy frontier: MACE, Fusion-MACE (and its parsimony options), Cormorant
and Fusion-Cormorant at several sizes on rMD17 molecules; see README.md."""
