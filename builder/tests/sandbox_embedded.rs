//! Isolation of the embedded runtime (needs root).
mod sandbox_util;
use sandbox_util::checks;
use strata_builder::sandbox::Runtime;

macro_rules! embedded {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            checks::$name(Runtime::Embedded);
        }
    )*};
}

embedded!(
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
    sandbox_util::parallel_steps(Runtime::Embedded);
}

#[test]
fn bare_rootfs_leaves_no_mount_points() {
    sandbox_util::bare_rootfs_leaves_no_mount_points(Runtime::Embedded);
}
