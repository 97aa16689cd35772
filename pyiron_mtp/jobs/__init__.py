"""pyiron job classes; importing this module registers them (``pr.create.job.MTPTraining``).

Kept out of ``import pyiron_mtp`` because importing pyiron_base sets up a project
database; in a pyiron session ``import pyiron_mtp.jobs`` (or any job class) does it.
"""
from pyiron_base import JobType

from .active_learning import ActiveLearningMD
from .free_energy import MeltingPoint, ThermodynamicIntegration
from .hull import ConvexHullScreen
from .resources import register as _register_resources
from .training import MTPTraining

for _cls in (MTPTraining, ActiveLearningMD, ThermodynamicIntegration, MeltingPoint, ConvexHullScreen):
    JobType.register(_cls)
_register_resources()

__all__ = ["MTPTraining", "ActiveLearningMD", "ThermodynamicIntegration", "MeltingPoint", "ConvexHullScreen"]
