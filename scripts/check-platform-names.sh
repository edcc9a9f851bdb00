#!/usr/bin/env bash
# Platform code stays in its room: a shop platform's type names (PrestaShopClient,
# WooCommerceOrder, ShopifyThrottle, LnbSession…) may appear only in
#   adapters/src/cms/<platform>/   the platform's client,
#   simulators/                    its simulator,
#   ops/src/platforms.rs           the one wiring function,
#   ops/src/simulate.rs            the simulator launcher,
# and in tests and benchmarks (*/tests/*, ops/bench/*). Comments are not checked.
# Usage: scripts/check-platform-names.sh [ROOT]   (exit 1 and the offending lines on a leak)
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

# A platform prefix followed by a capitalised word: a type-like name. The plain platform
# names (WooCommerce, BigCommerce, LeNewBlack) are allowed: they are enum variants and labels.
# Whatever follows `//` on a line is a comment and is not checked.
prefix='PrestaShop|WooCommerce|Woo|Shopify|BigCommerce|Magento|Wix|LeNewBlack|Lnb|Oasis|Orderlion'
pattern="^(?:(?!//).)*?\\K\\b(?!(?:WooCommerce|BigCommerce|LeNewBlack)\\b)(?:$prefix)[A-Z][A-Za-z0-9_]*"

leaks=$(
  find . -name '*.rs' \
    -not -path './target/*' -not -path './*/target/*' \
    -not -path './adapters/src/cms/*' \
    -not -path './simulators/*' \
    -not -path './ops/src/platforms.rs' \
    -not -path './ops/src/simulate.rs' \
    -not -path '*/tests/*' \
    -not -path './ops/bench/*' \
    -print0 | xargs -0 -r grep -HnoP "$pattern" || true
)
if [ -n "$leaks" ]; then
  echo "platform type names outside their room (adapters/src/cms/<platform>/, simulators/, ops/src/platforms.rs, ops/src/simulate.rs, tests):"
  echo "$leaks"
  exit 1
fi
echo "platform names: ok"
