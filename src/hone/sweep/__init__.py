"""`hone sweep`: learning curves over data volume.

`sweep` (hone.sweep.run) trains every (config, fraction, seed) point as an ordinary run on the same test
split; `hone.sweep.curve` fits score(n) = a - b * n**-c, the gain from doubling the data and where two
curves cross; `hone.sweep.view` draws sweep.png and writes sweep.html.
"""

from hone.sweep.run import FRACTIONS, sweep

__all__ = ["FRACTIONS", "sweep"]
