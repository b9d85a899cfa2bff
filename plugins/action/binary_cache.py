# Copyright: contributors to matrix-users
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""matrix.users.binary_cache: clears or prunes the binary cache on the target (docs: plugins/modules/binary_cache.py)."""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail
from ansible_collections.matrix.users.plugins.action.binary_module import ActionModule as BinaryModule
from ansible_collections.matrix.users.plugins.plugin_utils import binary_cache as cache

STATES = ('absent', 'pruned')


class ActionModule(BinaryModule):

    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(BinaryModule, self).run(tmp, task_vars)  # ActionBase.run: not the dispatcher's
        del tmp
        task_vars = task_vars or {}
        args = dict(self._task.args)
        state = args.pop('state', 'absent')
        if args:
            raise AnsibleActionFail('matrix.users.binary_cache: unknown option(s) %s; it has only state'
                                    % ', '.join(sorted(args)))
        if state not in STATES:
            raise AnsibleActionFail('matrix.users.binary_cache: state must be one of %s, not %r' % (', '.join(STATES), state))
        if getattr(self._connection._shell, 'SHELL_FAMILY', None) != 'sh':
            raise AnsibleActionFail('matrix.users.binary_cache needs a POSIX sh on the target')

        dir_word, why = self._cache_dir(task_vars, self._run_as())
        if dir_word is None:
            raise AnsibleActionFail('matrix.users.binary_cache: %s' % why)
        keep = self._current_names() if state == 'pruned' else None
        res = self._low_level_execute_command(cache.clear_script(dir_word, keep, dry_run=bool(self._task.check_mode)),
                                              sudoable=True)
        marker = cache.parse_marker(res.get('stdout') or '')
        if marker is None or res.get('rc') != 0:
            raise AnsibleActionFail('matrix.users.binary_cache: the command on the target failed (rc %s): %s %s'
                                    % (res.get('rc'), (res.get('stdout') or '').strip(), (res.get('stderr') or '').strip()))
        status, count, detail, path = marker
        if status == 'unsafe':
            raise AnsibleActionFail('matrix.users.binary_cache: %s %s' % (count, detail))
        removed = int(count) if status == 'removed' and count.isdigit() else 0
        result.update(changed=removed > 0, removed=removed, path=path)
        return result

    def _current_names(self):
        """The cache names of every binary this installation of the collection ships."""
        modules_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'modules')
        names = set()
        for entry in sorted(os.listdir(modules_dir)):
            if not entry.startswith('__'):
                continue
            module, sep, machine = entry[2:].rpartition('_linux_')
            if sep:
                platform = 'linux_' + machine
                names.add(cache.cache_name(module, platform, cache.sha256_of(os.path.join(modules_dir, entry))))
        return names
