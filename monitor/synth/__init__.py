"""The synthetic Sun: AIA-format observations with known answers.

Real SDO data cannot be downloaded where the monitor is developed and tested,
yet the daemon, the models and the tests need realistic feeds whose truth is
known. This package makes them from simple but real physics, all driven by
one differential emission measure (DEM) per structure:

* ``responses`` -- the seven AIA EUV channels' temperature responses,
  exposures and detector constants;
* ``disk`` -- the quiet Sun: hydrostatic shells per temperature, limb
  brightening/darkening, the off-limb corona, the network;
* ``plasma`` / ``structures`` / ``regions`` -- active regions (bipolar loop
  arcades that rotate with the Sun) and flares (hot loops and footpoint
  kernels whose temperature and emission measure rise and decay);
* ``goes`` / ``eve`` -- ground truth from the same DEM: GOES XRS-B flux and
  class, the 14 EVE MEGS-A line irradiances;
* ``noise`` / ``render`` / ``sun`` -- images with AEC exposures, Poisson and
  read noise, eclipses, dropouts and QUALITY flags;
* ``fitsio`` / ``feed`` -- level-1 FITS files (RICE-compressed int16) written
  into a spool directory in real time, with a JSON-lines truth sidecar;
* ``dataset`` -- arrays and labels on the model grid for training, no files;
* ``scenario`` -- the YAML scenarios shipped in ``scenarios/``.

Typical use::

    from monitor.synth import SynthFeed, SyntheticDataset

    for written in SynthFeed("m_flare", out_dir, size=1024, speed=60, seed=1).run():
        ...
    sample = SyntheticDataset(size=256, seed=0)[42]   # image (7, 256, 256), labels
"""

from monitor.synth.dataset import Labels, Sample, SyntheticDataset
from monitor.synth.eve import EVE_LINES, EveLine
from monitor.synth.feed import SynthFeed, WrittenFile
from monitor.synth.goes import EVENT_CLASSES, event_class_index, goes_class
from monitor.synth.responses import CHANNELS
from monitor.synth.scenario import Scenario, ScenarioError, list_scenarios, load_scenario
from monitor.synth.sun import Observation, SyntheticSun
from monitor.synth.truth import FlareKernel, FlareTruth, Truth

__all__ = [
    "CHANNELS",
    "EVENT_CLASSES",
    "EVE_LINES",
    "EveLine",
    "FlareKernel",
    "FlareTruth",
    "Labels",
    "Observation",
    "Sample",
    "Scenario",
    "ScenarioError",
    "SynthFeed",
    "SyntheticDataset",
    "SyntheticSun",
    "Truth",
    "WrittenFile",
    "event_class_index",
    "goes_class",
    "list_scenarios",
    "load_scenario",
]
