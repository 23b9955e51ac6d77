use base 'basetest';
use strict;
use warnings;
use testapi;

sub run {
    assert_screen 'installer-location', 60;
    send_key 'ret';
}

sub test_flags { return {fatal => 1}; }
1;
