#!/usr/bin/env bash
# Usage: tools/layers.sh [ROOT]
#
# Checks that the kernel-side Rust layers point one way (README, /work/shared/STYLE.md):
#
#   glue (rust/glue/) < dp (rust/dp/) < ctl (rust/ctl/) < main (rust/*.rs: ipvs_main.rs,
#   kunit_tests.rs)
#
# A file may name its own layer and the layers below it, never one above: glue names neither
# dp nor ctl, dp never names ctl. With a strict order, no upward reference also means no
# import circle among the layers; on failure a circle is reported by name and the layer graph
# is printed.
#
# What counts as a reference: every `crate::X`, `$crate::X` and `super::..::X` path (in `use`
# lines, in expressions, in macro bodies), and each X of a grouped `crate::{X::.., Y::..}`,
# where X is one of glue, dp, ctl. Comment lines (`//`, `//!`, `///`) and trailing `//`
# comments are ignored: doc links are not imports. rust/core (a separate crate) and bindings_generated.rs
# are not scanned.
#
# ROOT: the tree to check (default: the repository this script is in).
# Output: one "FILE:LINE: LAYER uses HIGHER (TEXT)" line per upward reference, a "circle:" line
# per pair of layers that reach each other, then the layer graph, and exit 1; or "layers: ok"
# and exit 0. Exit 2: no rust/ under ROOT.
set -euo pipefail

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
if [[ ! -d $root/rust ]]; then
	echo "layers: no rust/ under $root" >&2
	exit 2
fi
cd "$root"

mapfile -t files < <(find rust -name '*.rs' -not -path 'rust/core/*' -not -name bindings_generated.rs | LC_ALL=C sort)

perl -e '
use strict;
use warnings;
my %rank = (glue => 0, dp => 1, ctl => 2, main => 3);
my @names = qw(glue dp ctl main);
my (%edge, $bad);
for my $file (@ARGV) {
	my $layer;
	if ($file =~ m{^rust/(glue|dp|ctl)/}) { $layer = $1 }
	elsif ($file =~ m{^rust/[^/]+\.rs$}) { $layer = "main" }
	else { print "$file: in no layer (add it to tools/layers.sh)\n"; $bad = 1; next }
	open(my $fh, "<", $file) or die "$file: $!\n";
	while (my $line = <$fh>) {
		next if $line =~ m{^\s*//};
		(my $code = $line) =~ s{\s//.*$}{};
		my @targets;
		# crate::X and $crate::X
		while ($code =~ m{(?<![\w])\$?crate::(glue|dp|ctl)\b}g) { push @targets, $1 }
		# super::X from a layer'"'"'s mod.rs, super::super::X from its other files
		while ($code =~ m{(?<![\w])super::(?:super::)*(glue|dp|ctl)\b}g) { push @targets, $1 }
		# crate::{X::.., Y, ...}: the first identifier of each top-level item
		while ($code =~ m#(?<![\w])\$?crate::\{([^}]*)\}#g) {
			for my $item (split /,/, $1) {
				push @targets, $1 if $item =~ m{^\s*(glue|dp|ctl)\b};
			}
		}
		for my $t (@targets) {
			next if $t eq $layer;
			$edge{"$t -> $layer"}++;
			if ($rank{$t} > $rank{$layer}) {
				chomp(my $text = $line);
				$text =~ s/^\s+//;
				print "$file:$.: $layer uses $t ($text)\n";
				$bad = 1;
			}
		}
	}
	close $fh;
}
my %reach = map { $_ => 1 } keys %edge;
for my $k (@names) {
	for my $a (@names) {
		for my $b (@names) {
			$reach{"$a -> $b"} = 1 if $reach{"$a -> $k"} && $reach{"$k -> $b"};
		}
	}
}
for my $i (0 .. $#names) {
	for my $j ($i + 1 .. $#names) {
		my ($a, $b) = ($names[$i], $names[$j]);
		if ($reach{"$a -> $b"} && $reach{"$b -> $a"}) {
			print "circle: $a and $b reach each other\n";
			$bad = 1;
		}
	}
}
if ($bad) {
	# The layer graph, to read the failure by.
	print "layer graph (A -> B: B names A):\n";
	printf "  %-12s %4d reference(s)\n", $_, $edge{$_} for sort keys %edge;
}
exit($bad ? 1 : 0);
' "${files[@]}" && echo "layers: ok"
