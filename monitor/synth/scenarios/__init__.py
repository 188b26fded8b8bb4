"""The scenarios shipped with the package (YAML files; see ``monitor.synth.scenarios``)."""
