# Copyright: contributors to matrix-users
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
from __future__ import annotations

DOCUMENTATION = r"""
name: binary_cache
short_description: Settings of the matrix.users binary cache on the target (adds no variables)
description:
  - The modules of matrix.users are static binaries. The action plugin keeps each binary on the target,
    named by its SHA-256, and runs it from there, so a task whose binary is present costs one command
    over the connection, with the arguments on its standard input; a new version of the collection
    lands beside the old one.
  - Before every run the cached binary is checked against its SHA-256 (a tampered or truncated file is
    replaced, never run). The directory must belong to the user who runs the modules (the connecting
    user, or the become user) and must not be writable by group or others.
  - When the cache cannot be used (switched off, no C(sha256sum) on the target, the directory cannot be
    created or is not safe, a C(noexec) or full file system, a connection that cannot send data on
    standard input) the task copies its binary as Ansible does for any binary module, and says why at
    C(-v).
  - This plugin only declares these settings, so that C(ansible-config) lists them and C(ansible.cfg),
    the environment and inventory variables can set them. It adds no variables and need not be enabled.
  - The module M(matrix.users.binary_cache) clears the cache, or prunes the versions that this
    installation of the collection no longer ships.
version_added: 0.1.0
author:
  - matrix-users contributors (!UNKNOWN)
options:
  enabled:
    description:
      - Keep the module binaries on the target and run them from there.
      - C(false) copies the binary for every task, as Ansible does for binary modules.
    type: boolean
    default: true
    ini:
      - section: matrix_users
        key: binary_cache
    env:
      - name: MATRIX_USERS_BINARY_CACHE
    vars:
      - name: matrix_users_binary_cache
  dir:
    description:
      - The cache directory on the target. An absolute path, or one that starts with C(~/) (the home
        of the user who runs the modules).
      - Empty means C(matrix.users) inside Ansible's remote temporary directory (C(remote_tmp),
        C(~/.ansible/tmp) unless set).
      - Created with mode 0700 when missing. An existing directory is used only if it belongs to the
        user who runs the modules and group and others cannot write it.
    type: string
    default: ''
    ini:
      - section: matrix_users
        key: binary_cache_dir
    env:
      - name: MATRIX_USERS_BINARY_CACHE_DIR
    vars:
      - name: matrix_users_binary_cache_dir
"""

from ansible.plugins.vars import BaseVarsPlugin


class VarsModule(BaseVarsPlugin):
    """Declares the settings; the action plugin matrix.users.binary_module reads them."""

    REQUIRES_ENABLED = True
    is_stateless = True

    def get_vars(self, loader, path, entities, cache=True):
        super(VarsModule, self).get_vars(loader, path, entities)
        return {}
