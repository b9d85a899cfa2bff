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
in the host's facts as matrix_users_platform.

The binary is kept on the target, named by its SHA-256 (plugin_utils/binary_cache.py): a task
whose binary is there is one command, `<binary> -` with the arguments on standard input, after the
binary's SHA-256 was checked. Otherwise (the cache switched off or unusable, with the reason at -v)
Ansible copies the binary and runs it as `<binary> <args-file>`, as it does for any binary module.
The settings are declared by the vars plugin matrix.users.binary_cache (ansible-config lists them).
"""

from __future__ import annotations

import inspect
import json
import os
import time

from ansible import constants as C
from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.vars.clean import remove_internal_keys
from ansible_collections.matrix.users.plugins.plugin_utils import binary_cache as cache

try:  # ansible-core 2.19+: the encoder Ansible itself uses for a binary module's args file
    from ansible.module_utils.common.json import Direction, get_module_encoder
except ImportError:  # pragma: no cover - older ansible-core
    Direction = get_module_encoder = None

display = Display()

# `uname -m` spellings -> the machine name in the binaries' file names.
MACHINES = {
    'x86_64': 'x86_64',
    'amd64': 'x86_64',
    'aarch64': 'aarch64',
    'arm64': 'aarch64',
}
FACT = 'matrix_users_platform'
PLATFORMS = ('linux_x86_64', 'linux_aarch64')


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

        try:
            known = platform = self._known_platform(action, task_vars)
            facts = {}
            data, reason = None, self._cache_off_reason(task_vars)
            if reason is None:
                # Without a known platform the cache command itself asks `uname -sm` on the target.
                data, platform, reason = self._run_cached(action, collection, module, platform, task_vars)
                if platform and not known:
                    display.vvv('matrix.users: target platform %s (asked by the cache command)' % platform)
                    facts = self._platform_facts(platform)
            if data is None:
                display.v('matrix.users: %s copies its binary for this task (the binary cache is not used: %s)'
                          % (action, reason), host=self._host_name(task_vars))
                if not platform:
                    platform, facts = self._ask_platform(action)
                data = self._execute_module(module_name=self._binary(action, collection, module, platform),
                                            module_args=dict(self._task.args), task_vars=task_vars)
            result.update(data)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

        if facts:
            result.setdefault('ansible_facts', {}).update(facts)
        return result

    def _binary(self, action, collection, module, platform):
        """The FQCN of the module's binary for a platform; fails clearly if this build has none."""
        binary = '%s.__%s_%s' % (collection, module, platform)
        found = self._shared_loader_obj.module_loader.find_plugin_with_context(binary)
        if not found.resolved:
            supported = self._platforms(module)
            raise AnsibleActionFail(
                '%s has no binary for %s targets in this build of the collection (it has: %s)'
                % (action, platform.replace('_', ' '), ', '.join(supported) or 'none'))
        return binary

    def _binary_path(self, collection, module, platform):
        found = self._shared_loader_obj.module_loader.find_plugin_with_context(
            '%s.__%s_%s' % (collection, module, platform))
        return found.plugin_resolved_path if found.resolved else None

    @staticmethod
    def _host_name(task_vars):
        return task_vars.get('inventory_hostname')

    # --- the binary cache (plugin_utils/binary_cache.py) ---------------------------------------

    def _cache_settings(self, task_vars):
        """((enabled, where that came from), dir): inventory variables, the environment,
        ansible.cfg, as declared by the vars plugin matrix.users.binary_cache."""
        host_vars = self._host_vars(task_vars)
        variables = dict((n, self._templar.template(host_vars[n])) for n in cache.VARIABLES if n in host_vars)
        return cache.setting('enabled', variables), cache.setting('dir', variables)[0] or ''

    def _cache_off_reason(self, task_vars):
        """Why the cache cannot serve this task, before anything runs; None if it can."""
        (enabled, origin), dummy = self._cache_settings(task_vars)
        if not enabled:
            return 'switched off (%s)' % origin
        if self._task.async_val:
            return 'async task'
        shell = self._connection._shell
        if getattr(shell, 'SHELL_FAMILY', None) != 'sh':
            return 'the target shell is %s, not a POSIX sh' % getattr(shell, 'SHELL_FAMILY', 'unknown')
        if not getattr(self._connection, 'has_pipelining', False):
            return 'the connection plugin %s cannot send the arguments on standard input' % self._connection.transport
        become = self._run_as() and self._connection.become
        if become and not getattr(become, 'pipelining', True):
            return 'the become method %s cannot pass standard input through' % getattr(become, 'name', 'in use')
        if C.DEFAULT_KEEP_REMOTE_FILES:
            return 'ANSIBLE_KEEP_REMOTE_FILES is set'
        return None

    def _run_as(self):
        """The become user when become applies to module commands (as Ansible decides), else None."""
        if not self._connection.become:
            return None
        ruser = self._get_remote_user()
        buser = self.get_become_option('become_user')
        if C.BECOME_ALLOW_SAME_USER or (buser != ruser or not any((ruser, buser))):
            return buser or 'root'
        return None

    def _cache_dir(self, task_vars, run_as):
        """The cache directory as a sh word, or (None, why)."""
        dummy, configured = self._cache_settings(task_vars)
        path = configured or '%s/%s' % (
            (self.get_shell_option('remote_tmp', default='~/.ansible/tmp') or '~/.ansible/tmp').rstrip('/'), cache.SUBDIR)
        word = cache.shell_dir(path, run_as)
        if word is None:
            return None, 'the cache directory %r is neither absolute nor under ~/' % path
        return word, None

    def _args_json(self, binary, task_vars):
        args = dict(self._task.args)
        self._update_module_args(binary, args, task_vars)
        if get_module_encoder is not None:
            return json.dumps(args, cls=get_module_encoder('legacy', Direction.CONTROLLER_TO_MODULE))
        return json.dumps(args)

    def _run_cached(self, action, collection, module, platform, task_vars):
        """(module result or None, platform, reason it fell back)."""
        run_as = self._run_as()
        dir_word, why = self._cache_dir(task_vars, run_as)
        if dir_word is None:
            return None, platform, why
        binaries = {}
        for plat in ([platform] if platform else PLATFORMS):
            path = self._binary_path(collection, module, plat)
            if path:
                digest = cache.sha256_of(path)
                binaries[plat] = (digest, cache.cache_name(module, plat, digest), path)
        if not binaries:
            return None, platform, 'this build of the collection has no binary of %s' % module
        names = dict((p, b[:2]) for p, b in binaries.items())
        # The binary's FQCN for Ansible's bookkeeping (_ansible_module_name), as the copy path has.
        binary = '%s.__%s_%s' % (collection, module, platform or sorted(binaries)[0])
        args = self._args_json(binary, task_vars)
        env = self._compute_environment_string()
        host = self._host_name(task_vars)

        res = self._low_level_execute_command(cache.run_script(dir_word, names, platform, MACHINES, env),
                                              sudoable=True, in_data=args)
        marker = cache.parse_marker(res.get('stdout') or '')
        if marker is None:
            return self._cached_result(res, binaries, platform, host)
        status, platform, detail, directory = marker[0], marker[1] or platform, marker[2], marker[3]
        if status == 'unsupported':
            raise AnsibleActionFail(self._unsupported(action, detail))
        if status != 'miss':
            return None, platform, detail or status
        if platform not in binaries:
            return None, platform, 'this build of the collection has no %s binary of %s' % (platform, module)
        if not directory.startswith('/'):
            return None, platform, 'the cache directory did not resolve to an absolute path (%r)' % directory

        digest, name, local = binaries[platform]
        if detail.startswith('mismatch'):
            display.v('matrix.users: the cached %s/%s does not have its SHA-256 (it has %s: tampered or truncated);'
                      ' replacing it, it did not run' % (directory, name, detail.split(' ', 1)[-1] or 'none'), host=host)
        temp = cache.temp_name(name)
        copy_from = None
        try:
            if run_as:
                # With become, the upload belongs to the connecting user: it goes to Ansible's
                # temporary directory, and the install command copies it as the user who runs it.
                tmpdir = self._connection._shell.tmpdir or self._make_tmp_path()
                copy_from = self._connection._shell.join_path(tmpdir, temp)
                self._put(local, copy_from, into_cache=True)
                # As Ansible does for a module's files: the directory too, for the become user to enter.
                self._fixup_perms2([tmpdir, copy_from], self._get_remote_user(), execute=False)
            else:
                self._put(local, '%s/%s' % (directory, temp), into_cache=True)
        except AnsibleError as e:
            self._low_level_execute_command(cache.discard_script(dir_word, temp), sudoable=True)
            return None, platform, 'uploading the binary into %s failed: %s' % (directory, e)
        res = self._low_level_execute_command(
            cache.install_script(dir_word, names, platform, MACHINES, temp, copy_from, env), sudoable=True, in_data=args)
        marker = cache.parse_marker(res.get('stdout') or '')
        if marker is not None:
            return None, platform, marker[2] or marker[0]
        return self._cached_result(res, binaries, platform, host)

    def _cached_result(self, res, binaries, platform, host):
        """The module's result, or (None, reason) when the binary never started (exec failed)."""
        stdout, stderr = res.get('stdout') or '', res.get('stderr') or ''
        for line in stderr.splitlines():
            if line.startswith(cache.MARK + ' run '):
                platform = line.split()[2]
        if res.get('rc') in (126, 127) and not stdout.strip():
            # The shell could not start the binary (a noexec mount, a binary removed meanwhile):
            # nothing ran, so copying it the usual way is safe.
            lines = [ln for ln in stderr.splitlines() if not ln.startswith(cache.MARK)]
            why = ' '.join(lines).strip() or 'no message'
            if 'Permission denied' in why:
                why += '; is its file system mounted noexec?'
            return None, platform, 'the cached binary could not be started (rc %s: %s)' % (res.get('rc'), why)
        if platform in binaries:
            display.vvv('Using module file %s (cached on the target as %s)' % (binaries[platform][2], binaries[platform][1]),
                        host=host)
        if len(inspect.signature(self._parse_returned_data).parameters) > 1:
            data = self._parse_returned_data(res, 'legacy')
        else:  # pragma: no cover - ansible-core before 2.19
            data = self._parse_returned_data(res)
        data.pop('_ansible_suppress_tmpdir_delete', None)
        remove_internal_keys(data)
        return data, platform, None

    def _put(self, local, remote, into_cache=False):
        start = time.monotonic()
        self._connection.put_file(local, remote)
        display.vvv('matrix.users: copied %s (%d bytes) in %.3f s%s'
                    % (os.path.basename(local), os.path.getsize(local), time.monotonic() - start,
                       ' into the binary cache' if into_cache else ''))

    # --- the target's platform -------------------------------------------------------------------

    def _host_vars(self, task_vars):
        if self._task.delegate_to:
            return (task_vars.get('ansible_delegated_vars') or {}).get(self._task.delegate_to) or {}
        return task_vars

    def _platform_facts(self, platform):
        # A delegated task's facts land on the delegating host unless delegate_facts is set:
        # cache only where the answer belongs.
        if self._task.delegate_to and not self._task.delegate_facts:
            return {}
        return {FACT: platform}

    def _known_platform(self, action, task_vars):
        """The platform from cached or gathered facts, or None."""
        facts = self._host_vars(task_vars).get('ansible_facts') or {}
        if facts.get(FACT):
            return facts[FACT]
        # Gathered facts (setup on a host that has Python, or a fact cache) already know it.
        if facts.get('system') and facts.get('architecture'):
            platform = platform_from(facts['system'], facts['architecture'])
            if platform is None:
                raise AnsibleActionFail(self._unsupported(action, '%s %s' % (facts['system'], facts['architecture'])))
            return platform
        return None

    def _ask_platform(self, action):
        """Asks the target with `uname -sm`: (platform, the facts to cache it in)."""
        res = self._low_level_execute_command('uname -sm', sudoable=False)
        words = (res.get('stdout') or '').split()
        if res.get('rc') != 0 or len(words) != 2:
            raise AnsibleActionFail('%s could not tell the target\'s architecture: `uname -sm` answered rc=%s, %r, %r'
                                    % (action, res.get('rc'), (res.get('stdout') or '').strip(), (res.get('stderr') or '').strip()))
        platform = platform_from(words[0], words[1])
        if platform is None:
            raise AnsibleActionFail(self._unsupported(action, ' '.join(words)))
        display.vvv('matrix.users: target platform %s (uname -sm: %s)' % (platform, ' '.join(words)))
        return platform, self._platform_facts(platform)

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
