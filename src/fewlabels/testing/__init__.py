"""Test helpers that ship with fewlabels: the algorithm conformance suite."""
