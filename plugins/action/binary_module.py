# Copyright: contributors to matrix-users
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Runs the static binary of a matrix.users module that matches the target's architecture.

meta/runtime.yml routes every module of the collection here (plugin_routing.modules.<name>.action_plugin).
The collection ships one static binary per module and platform, named the way ansible-core's own
binary-module tests name them, <module>_<system>_<machine>, with a leading "__" so that ansible-doc
lists only the documented entry points:

    plugins/modules/register_user                      the name and docs (register_user.yml)
    plugins/modules/__register_user_linux_x86_64       static x86_64 binary
    plugins/modules/__register_user_linux_aarch64      static aarch64 binary

The target needs no Python, so the setup module cannot tell its architecture: unless facts already
give it, the plugin asks once per host with `uname -sm` over the connection, and caches the answer
in the host's facts as matrix_users_platform. Ansible then copies that one binary and runs it as
`<binary> <args-file>`, as it does for any binary module.
"""

from __future__ import annotations

import os
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

# `uname -m` spellings -> the machine name in the binaries' file names.
MACHINES = {
    'x86_64': 'x86_64',
    'amd64': 'x86_64',
    'aarch64': 'aarch64',
    'arm64': 'aarch64',
}
FACT = 'matrix_users_platform'


def platform_from(system, machine):
    """'Linux', 'aarch64' -> 'linux_aarch64'; None if the collection has no binaries for it."""
    system = (system or '').strip().lower()
    machine = MACHINES.get((machine or '').strip().lower())
    if system != 'linux' or machine is None:
        return None
    return '%s_%s' % (system, machine)


class ActionModule(ActionBase):

    _supports_check_mode = True
    # async_wrapper is Python, which the targets of these modules need not have.
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # tmp no longer has any effect
        task_vars = task_vars or {}

        action = self._task.resolved_action or self._task.action
        collection, dummy, module = action.rpartition('.')
        if not collection:
            collection = 'matrix.users'

        platform, facts = self._target_platform(action, task_vars)

        binary = '%s.__%s_%s' % (collection, module, platform)
        found = self._shared_loader_obj.module_loader.find_plugin_with_context(binary)
        if not found.resolved:
            supported = self._platforms(module)
            raise AnsibleActionFail(
                '%s has no binary for %s targets in this build of the collection (it has: %s)'
                % (action, platform.replace('_', ' '), ', '.join(supported) or 'none'))

        try:
            result.update(self._execute_module(module_name=binary, module_args=self._task.args, task_vars=task_vars))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

        if facts:
            result.setdefault('ansible_facts', {}).update(facts)
        return result

    def _target_platform(self, action, task_vars):
        """The target's platform name, and the facts to cache it in (empty if already cached)."""
        delegated = bool(self._task.delegate_to)
        if delegated:
            host_vars = (task_vars.get('ansible_delegated_vars') or {}).get(self._task.delegate_to) or {}
        else:
            host_vars = task_vars
        facts = host_vars.get('ansible_facts') or {}

        cached = facts.get(FACT)
        if cached:
            return cached, {}
        # Gathered facts (setup on a host that has Python, or a fact cache) already know it.
        if facts.get('system') and facts.get('architecture'):
            platform = platform_from(facts['system'], facts['architecture'])
            if platform is None:
                raise AnsibleActionFail(self._unsupported(action, '%s %s' % (facts['system'], facts['architecture'])))
            return platform, {}

        res = self._low_level_execute_command('uname -sm', sudoable=False)
        words = (res.get('stdout') or '').split()
        if res.get('rc') != 0 or len(words) != 2:
            raise AnsibleActionFail('%s could not tell the target\'s architecture: `uname -sm` answered rc=%s, %r, %r'
                                    % (action, res.get('rc'), (res.get('stdout') or '').strip(), (res.get('stderr') or '').strip()))
        platform = platform_from(words[0], words[1])
        if platform is None:
            raise AnsibleActionFail(self._unsupported(action, ' '.join(words)))
        display.vvv('matrix.users: target platform %s (uname -sm: %s)' % (platform, ' '.join(words)))
        # A delegated task's facts land on the delegating host unless delegate_facts is set:
        # cache only where the answer belongs.
        if delegated and not self._task.delegate_facts:
            return platform, {}
        return platform, {FACT: platform}

    @staticmethod
    def _unsupported(action, seen):
        return ('%s has no binary for this target: it reports %s; the collection has static binaries for Linux x86_64 '
                'and Linux aarch64 (arm64) only' % (action, seen))

    def _platforms(self, module):
        """The platforms this installed collection has binaries of, for error messages."""
        modules_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'modules')
        prefix = '__%s_' % module
        try:
            names = sorted(os.listdir(modules_dir))
        except OSError:
            return []
        return [n[len(prefix):].replace('_', ' ', 1) for n in names if n.startswith(prefix)]

    def _transfer_file(self, local_path, remote_path):
        # Ansible copies the binary on every task: say how long that took (-vvv; bench/ reads it).
        if not os.path.basename(local_path).startswith('__'):
            return super(ActionModule, self)._transfer_file(local_path, remote_path)
        start = time.monotonic()
        try:
            return super(ActionModule, self)._transfer_file(local_path, remote_path)
        finally:
            display.vvv('matrix.users: copied %s (%d bytes) in %.3f s'
                        % (os.path.basename(local_path), os.path.getsize(local_path), time.monotonic() - start))
