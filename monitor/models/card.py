"""The model card template for packages whose training supplied none."""

from __future__ import annotations

from monitor.models.manifest import Manifest

__all__ = ["default_model_card"]


def default_model_card(manifest: Manifest) -> str:
    """A model card for a package whose training did not supply one."""
    chans = ", ".join(str(c) for c in manifest.input.channels)
    trained = manifest.training or {}
    data = trained.get("data", "not recorded: this package may be untrained (random weights)")
    return f"""# Model card: {manifest.name} {manifest.version}

{manifest.description or "Flare-class and EUV-irradiance network for sdo-monitor."}

## Inputs and outputs
- Input: AIA channels {chans} Angstrom on the {manifest.input.size} px model grid, scaled
  per channel as `model.json` says.
- Outputs: class logits for {", ".join(manifest.classes.classes)} (GOES XRS-B);
  {len(manifest.lines)} EVE MEGS-A lines (inverse transform in `model.json`, W m^-2);
  the last feature maps for class-activation maps.

## Training data
{data}

## Must not be used for
- Operational forecasts or alerts before it is trained and evaluated on real SDO data
  (e.g. SDOML) and its `metrics.json` reviewed.
- Anything outside the input distribution it was trained on (other instruments,
  uncalibrated or degraded AIA frames).

## Known limits
See `metrics.json`. An empty or "not evaluated" metrics file means no evaluation was run.
"""
