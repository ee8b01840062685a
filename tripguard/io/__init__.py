"""Events in and out: the contract's codec (`codec`, and `columnar` for whole files and fetches),
reading input files (`inputs`) and `tripguard replay` (`replay`, `replay_columnar`)."""
