"""Research studies run from the repository root (``python -m studies.<name>``): campaigns
that use fusionpot and keep their results beside their code; not part of the installed
package."""
