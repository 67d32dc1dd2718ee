"""``cnn2gnn doctor``: what this machine has that cnn2gnn needs, and the fix for each thing that blocks a feature.

Every probe imports its optional package lazily and reports an absent one as a finding, never as an
error: the report is what a user pastes into a bug report, so it must come out on any machine.
"""
