#!/usr/bin/env bash
# Renders the README's screenshots headless (Debian's chromium), from a real dry-run bot on the replay:
#   docs/dashboard.png     `hydra dashboard` over the bot's decision journal and REST API
#   docs/frequi-chart.png  Freqtrade's plot-dataframe of HYDRA's columns (the plot_config FreqUI draws)
# Usage: scripts/screenshots.sh [DATA_ROOT]   (default ../shared/data; needs .venv from `make setup`)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_ROOT=${1:-${HYDRA_DATA_DIR:-../shared/data}}
BIN=.venv/bin
WORK=$(mktemp -d)
REPLAY_PORT=18711 API_PORT=18781 DASH_PORT=18851
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
mkdir -p docs "$WORK/user_data"

# The replay (2022-11-28 from 07:10 at 40x: SOL's funding spike fires around 08:00 recorded time) and a bot on it.
$BIN/hydra replay --from 2022-11-28T07:10 --speed 40 --port $REPLAY_PORT --datadir "$DATA_ROOT/binance" \
    > "$WORK/replay.log" 2>&1 &
sleep 8
$BIN/hydra replay --overlay --port $REPLAY_PORT > "$WORK/replay.json"
cat > "$WORK/bot.json" <<EOF
{"dry_run": true, "db_url": "sqlite:///$WORK/trades.sqlite", "internals": {"process_throttle_secs": 1},
 "api_server": {"enabled": true, "listen_ip_address": "127.0.0.1", "listen_port": $API_PORT, "username": "hydra",
                "password": "screenshots", "jwt_secret_key": "screenshots-secret-0123456789abcdef", "ws_token": "t"},
 "hydra": {"intel": {"required_live": ["premium_index"]}}}
EOF
HYDRA_DOTENV=0 $BIN/hydra replay --attach --port $REPLAY_PORT -- $BIN/freqtrade trade --strategy Hydra \
    -c config/config.json -c "$WORK/replay.json" -c "$WORK/bot.json" --userdir "$WORK/user_data" \
    --strategy-path user_data/strategies > "$WORK/bot.log" 2>&1 &
api() { curl -s -u hydra:screenshots "http://127.0.0.1:$API_PORT/api/v1/$1" "${@:2}"; }
for _ in $(seq 120); do
    [ "$($BIN/hydra status --userdir "$WORK/user_data" 2>/dev/null | grep -c ' | ')" -ge 8 ] && break  # 7 pairs
    sleep 2
done
sleep 20  # every pair healthy (the bot's own intel refresh)
api forceenter -X POST -H 'Content-Type: application/json' -d '{"pair": "ETH/USDT:USDT", "side": "long", "ordertype": "market"}' > /dev/null
api forceenter -X POST -H 'Content-Type: application/json' -d '{"pair": "SOL/USDT:USDT", "side": "long", "ordertype": "market"}' > /dev/null
grep -q "KILL SWITCH funding_spike" "$WORK/bot.log" || timeout 240 sh -c "until grep -q 'KILL SWITCH funding_spike' '$WORK/bot.log'; do sleep 2; done"
sleep 30  # the next candle's decisions: SOL flattened

FREQTRADE__API_SERVER__PASSWORD=screenshots $BIN/hydra dashboard --userdir "$WORK/user_data" -c config/config.json \
    --port $DASH_PORT --api-url "http://127.0.0.1:$API_PORT" --api-user hydra > "$WORK/dashboard.log" 2>&1 &
sleep 4
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=8000 \
    --window-size=1400,1000 --screenshot="$PWD/docs/dashboard.png" "http://127.0.0.1:$DASH_PORT/" 2>/dev/null

# Freqtrade's own chart of HYDRA's columns (the strategy's plot_config), around the same morning.
# A backtest of those days first, so the chart shows HYDRA's trades too.
$BIN/hydra markets overlay --port 18702 > "$WORK/offline.json"
for action in backtesting plot-dataframe; do
    extra=(--cache none); [ $action = plot-dataframe ] && extra=(--pairs SOL/USDT:USDT)
    $BIN/hydra markets run --port 18702 -- $BIN/freqtrade $action --strategy Hydra -c config/config.json \
        -c "$WORK/offline.json" --datadir "$DATA_ROOT/binance" --userdir "$WORK/user_data" \
        --strategy-path user_data/strategies --timerange 20221126-20221130 "${extra[@]}" >> "$WORK/plot.log" 2>&1
done
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=10000 \
    --window-size=1400,1800 --screenshot="$PWD/docs/frequi-chart.png" \
    "file://$(ls "$WORK"/user_data/plot/*.html | head -1)" 2>/dev/null
ls -l docs/dashboard.png docs/frequi-chart.png
