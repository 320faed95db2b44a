"""The embedded demo (`make demo`): everything on one machine, nothing to install by hand.

Demo-only code lives here, apart from the production code it drives.
"""
