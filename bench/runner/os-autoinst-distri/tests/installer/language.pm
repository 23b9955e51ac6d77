use base 'basetest';
use strict;
use warnings;
use testapi;

sub run {
    assert_screen 'installer-language', 300;
    send_key 'ret';
}

sub test_flags { return {fatal => 1}; }
1;
