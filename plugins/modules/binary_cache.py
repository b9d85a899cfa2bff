# Copyright: contributors to matrix-users
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# Documentation only: the action plugin matrix.users.binary_cache does the work (no Python on the target).
from __future__ import annotations

DOCUMENTATION = r"""
module: binary_cache
short_description: Clear or prune the matrix.users binary cache on the target
version_added: 0.1.0
description:
  - The modules of matrix.users keep their static binaries on the target, each named by its SHA-256,
    so that a task whose binary is there does not copy it again (see the settings plugin
    matrix.users.binary_cache, C(ansible-doc -t vars matrix.users.binary_cache)).
  - With I(state=absent) this removes the cache directory; the next task copies its binary again.
  - With I(state=pruned) it removes every file in the cache except the binaries this installation of
    the collection ships (older versions), and temporary uploads older than a day.
  - Runs as the user the modules run as (the connecting user, or the become user), on the cache
    directory those settings name. Needs no Python on the target.
author:
  - matrix-users contributors (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reports what would be removed; removes nothing.
  diff_mode:
    support: none
    description: No diff.
options:
  state:
    description:
      - C(absent) removes the whole cache directory; C(pruned) keeps only the current binaries.
    type: str
    choices: [absent, pruned]
    default: absent
seealso:
  - plugin: matrix.users.binary_cache
    plugin_type: vars
    description: The settings of the binary cache (on or off, its directory).
"""

EXAMPLES = r"""
- name: Remove the cached module binaries
  matrix.users.binary_cache:
    state: absent

- name: Keep only the binaries of the installed version
  matrix.users.binary_cache:
    state: pruned
"""

RETURN = r"""
path:
  description: The cache directory on the target.
  returned: always
  type: str
  sample: /root/.ansible/tmp/matrix.users
removed:
  description: How many files were (or, in check mode, would be) removed.
  returned: always
  type: int
  sample: 2
"""
