"""Active learning: a committee's disagreement and the choice of frames to label next.

``fusionpot train --committee K`` trains the committee, ``fusionpot select`` picks the
frames it disagrees on most, and :class:`fusionpot.namd.CommitteeProvider` runs dynamics on
its mean while recording its spread along every trajectory.
"""

from fusionpot.active.spread import SPREAD_COLUMNS, committee_spread

__all__ = ["SPREAD_COLUMNS", "committee_spread"]
