//! The same isolation checks through an external OCI runtime, runc (needs
//! root and runc, which tests/setup-host.sh installs).
mod sandbox_util;
use sandbox_util::checks;
use strata_builder::sandbox::Runtime;

fn runc() -> Runtime {
    Runtime::from_arg("runc").expect("runc is needed for these tests (apt-get install runc)")
}

macro_rules! runc {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            checks::$name(runc());
        }
    )*};
}

runc!(
    ps_shows_only_the_steps_processes,
    host_files_are_not_visible,
    capabilities_are_dockers_with_no_new_privs,
    writes_land_in_upper_only,
    exit_codes_propagate,
    stdout_and_stderr_are_captured,
    network_none_has_only_loopback,
    hosts_and_resolv_conf_are_given_and_not_committed,
    proc_and_sys_are_restricted,
    extra_mounts,
    nothing_is_left_after_a_killed_step,
);

#[test]
fn parallel_steps() {
    sandbox_util::parallel_steps(runc());
}

#[test]
fn bare_rootfs_leaves_no_mount_points() {
    sandbox_util::bare_rootfs_leaves_no_mount_points(runc());
}
