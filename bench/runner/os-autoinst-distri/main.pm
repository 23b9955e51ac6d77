# The same job as `kubeqa run CASEDIR=examples/debian-installer SCHEDULE=installer/language,installer/location`,
# for os-autoinst (Debian package os-autoinst): used by bench/runner/run.ts only.
use strict;
use warnings;
use testapi;
use autotest;

autotest::loadtest('tests/installer/language.pm');
autotest::loadtest('tests/installer/location.pm');
1;
