# corpus.sh - sourced by tests/test_lua_*.sh: make a tiny synthetic corpus
# (4 domains in 2 L1 fields, distinct vocabularies, M2D2 layout), prepare
# it with `clpt prepare` (a 320-id BPE trained on it) and write a tiny
# config. Needs $bin (the clpt binary) and $tmp; sets $corpus and $config.
# Seconds on one core.

make_text() {  # make_text SEED WORDS... : ~N lines of sentences from the words
    local seed=$1 lines=$2; shift 2
    local words=("$@") n=$#
    RANDOM=$seed
    for ((i = 0; i < lines; i++)); do
        local s="the"
        for ((k = 0; k < 9; k++)); do s+=" ${words[RANDOM % n]}"; done
        echo "$s ."
        if (( i % 6 == 5 )); then echo; fi
    done
}

make_domain() {  # make_domain NAME SEED WORDS...
    local name=$1 seed=$2; shift 2
    mkdir -p "$tmp/raw/$name"
    make_text "$seed" 240 "$@" > "$tmp/raw/$name/train.txt"
    make_text $((seed + 1)) 40 "$@" > "$tmp/raw/$name/valid.txt"
    make_text $((seed + 2)) 40 "$@" > "$tmp/raw/$name/test.txt"
}

make_corpus() {
    # each domain: its own words, its field's words, common words
    local common=(and of a is with on in to)
    local animals=(fur tail paws pet animal fur tail paws)
    local tools=(handle steel metal grip workshop handle steel metal)
    make_domain Animals__Cats 11 cat purrs whiskers meow kitten "${animals[@]}" "${common[@]}"
    make_domain Animals__Dogs 21 dog barks puppy leash bone "${animals[@]}" "${common[@]}"
    make_domain Tools__Hammers 31 hammer nail strike anvil blow "${tools[@]}" "${common[@]}"
    make_domain Tools__Saws 41 saw blade teeth cut wood "${tools[@]}" "${common[@]}"
    "$bin" prepare -q -t "$tmp/tok" --train-tokenizer 320 -o "$tmp/data" -j 1 "$tmp/raw" > "$tmp/prepare.log" 2>&1 \
        || { cat "$tmp/prepare.log" >&2; return 1; }
    corpus=$tmp/data
    config=$tmp/tiny.ini
    cat > "$config" <<INI
[model]
preset = tiny
n_layer = 1
n_head = 2
n_embd = 32
n_ctx = 32
vocab_size = 384
init = random
seed = 7

[train]
batch_size = 4
seq_len = 32
steps = 4
seed = 3
log_every = 2
out_dir = $tmp/runs

[optim]
lr = 3e-3
schedule = constant

[data]
train = $corpus
max_eval_tokens = 600

[eval]
batch_size = 8
rank = true

[runtime]
backend = cpu
threads = 1
progress = never
INI
}
