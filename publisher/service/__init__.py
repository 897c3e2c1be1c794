"""The library behind every front end (CLI, console, site, daemon): `Publisher` in `app`,
one module per job over `base`, and the read models the front ends show (`readmodels`)."""
