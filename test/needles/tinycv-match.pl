#!/usr/bin/perl
# Runs os-autoinst's own needle matcher (perl module tinycv, Debian package os-autoinst) on
# screenshots and needles, for the verdict-compatibility test and the benchmark.
#
#   perl -I/usr/lib/os-autoinst test/needles/tinycv-match.pl < request.json
#
# request: {"mode": "match", "search_ratio": 0.02,
#           "checks": [{"screen": "a.png", "needles": [{"name", "png", "area": [...], "properties": [...]}]}]}
#   → one result per check: {"found": name|null, "candidates": [{"name", "ok", "error", "areas": [{x, y, similarity}]}]}
# request: {"mode": "bench", "screen": "a.png", "needle": {...}, "margin": 50, "repeat": 200}
#   → per-check milliseconds of search_needle on one area (screen already loaded), a whole-screen
#     search (margin 1024, as os-autoinst's full search), and of loading the screen PNG; *_cpu: the
#     same in process CPU time (user + system, all threads).
use strict;
use warnings;
use JSON::PP;
use Time::HiRes qw(time);
use tinycv;

package FixtureNeedle;
# The parts of os-autoinst's needle object that tinycv::Image::search_ uses.
sub new {
    my ($class, $n) = @_;
    my $self = bless {%$n}, $class;
    $self->{area} = [map { {%$_} } @{$n->{area}}];
    return $self;
}
sub get_image {
    my ($self) = @_;
    return $self->{_image} if $self->{_image};
    my $image = tinycv::read($self->{png}) or return undef;
    # as needle.pm's _load_image: exclude areas painted on the needle image
    for my $a (@{$self->{area}}) {
        next unless $a->{type} eq 'exclude';
        $image->replacerect($a->{xpos}, $a->{ypos}, $a->{width}, $a->{height});
    }
    return $self->{_image} = $image;
}
sub has_property {
    my ($self, $name) = @_;
    for my $p (@{$self->{properties} || []}) {
        my $n = ref $p ? $p->{name} : $p;
        return 1 if $n eq $name;
    }
    return 0;
}

package main;

my $json = JSON::PP->new->canonical;
my $request = $json->decode(do { local $/; <STDIN> });

sub needle_of { FixtureNeedle->new($_[0]) }

if ($request->{mode} eq 'match') {
    my @out;
    for my $check (@{$request->{checks}}) {
        my $screen = tinycv::read($check->{screen}) or die "cannot read $check->{screen}\n";
        my @needles = map { needle_of($_) } @{$check->{needles}};
        my ($found, $candidates) = $screen->search(\@needles, 0, $request->{search_ratio});
        my @all = ($found ? ($found) : (), @{$candidates || []});
        push @out, {
            found => $found ? $found->{needle}{name} : undef,
            candidates => [map {
                my $c = $_;
                {
                    name => $c->{needle}{name},
                    ok => $c->{ok} ? JSON::PP::true : JSON::PP::false,
                    error => $c->{error} + 0,
                    areas => [map { {x => $_->{x} + 0, y => $_->{y} + 0, similarity => $_->{similarity} + 0} } @{$c->{area}}],
                }
            } @all],
        };
    }
    print $json->encode(\@out), "\n";
}
elsif ($request->{mode} eq 'bench') {
    my $repeat = $request->{repeat} || 100;
    my $needle = needle_of($request->{needle});
    my $image = $needle->get_image;
    my ($area) = grep { $_->{type} eq 'match' } @{$needle->{area}};
    my %ms;
    # wall-clock and process CPU time (all threads: OpenCV may use several) per call
    my $t0 = time;
    my $c0 = Time::HiRes::clock();
    my $screen;
    $screen = tinycv::read($request->{screen}) for 1 .. $repeat;
    $ms{load_png} = (time - $t0) * 1000 / $repeat;
    for my $case ([area => $request->{margin}], [whole_screen => 1024]) {
        my ($name, $margin) = @$case;
        my $sim;
        $t0 = time;
        $c0 = Time::HiRes::clock();
        for (1 .. $repeat) {
            # a fresh screen per check, as every check sees a new screenshot (prep caches per image)
            my $s = $screen->copy;
            ($sim) = $s->search_needle($image, @{$area}{qw(xpos ypos width height)}, $margin);
        }
        $ms{"${name}_cpu"} = (Time::HiRes::clock() - $c0) * 1000 / $repeat;
        $ms{$name} = (time - $t0) * 1000 / $repeat;
        $ms{"${name}_similarity"} = $sim + 0;
    }
    # the copy alone, to subtract
    $t0 = time;
    $c0 = Time::HiRes::clock();
    my $c;
    $c = $screen->copy for 1 .. $repeat;
    $ms{copy_cpu} = (Time::HiRes::clock() - $c0) * 1000 / $repeat;
    $ms{copy} = (time - $t0) * 1000 / $repeat;
    print $json->encode(\%ms), "\n";
}
else {
    die "unknown mode $request->{mode}\n";
}
