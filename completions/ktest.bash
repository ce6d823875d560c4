# bash completion for ktest(1): commands, their flags, and scenario files
# (*.yaml, *.yml) for run and validate, run directories for report. Plain bash: it needs no helpers
# from the bash-completion package.

_ktest_words() {
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
}

# Paths: directories, and the files matching one of the globs given (any file without one).
_ktest_paths() {
    compopt -o filenames 2>/dev/null
    if (($# == 0)); then
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return
    fi
    local glob
    mapfile -t COMPREPLY < <(compgen -d -- "$cur"; for glob; do compgen -f -X "!$glob" -- "$cur"; done)
}

_ktest() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    # COMP_WORDBREAKS splits --opt=value into --opt, =, value.
    if [[ $cur == = ]]; then
        cur=""
    elif [[ $prev == = ]]; then
        prev=${COMP_WORDS[COMP_CWORD-2]}
    fi

    # The command and subcommand typed so far. Only the global options can
    # come before them, so only their values need skipping.
    local i word cmd="" sub=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ $word == --color || $word == --config ]]; then
            [[ ${COMP_WORDS[i+1]} == = ]] && ((i++))
            ((i++))
        elif [[ $word != -* && $word != = ]]; then
            if [[ -z $cmd ]]; then cmd=$word; elif [[ -z $sub ]]; then sub=$word; fi
        fi
    done

    # The options of the command; a trailing = marks one that takes a value.
    local opts="--color= --config= -h --help" subs="" args=""
    case $cmd in
        '') subs='run report shell validate snapshot kernel btf doctor version' ;;
        run)
            opts+=' --kernel= --cpus= --memory= --accel= --cpu-model= -f= --format= --output-dir=
                   --boot-timeout= --step-timeout= --capture-timeout= --run-timeout= --object-path=
                   --json --tap --junit= --html -j= --jobs= --shard= -q --quiet --shell-on-fail'
            args=scenarios ;;
        shell)
            opts+=' --kernel= --cpus= --memory= --accel= --cpu-model= -f= --format= --output-dir=
                   --boot-timeout= --step-timeout= --capture-timeout= --run-timeout= --object-path=
                   --until= -q --quiet'
            args=scenarios ;;
        report) opts+=' -o= --output='; args=dirs ;;
        validate) args=scenarios ;;
        snapshot)
            case $sub in
                '') subs='dump diff query' ;;
                dump)
                    opts+=' --snapshot= --map= --path= --json --show-zero --hex --max-entries= --all
                           --changed-since='
                    args=files ;;
                diff) opts+=' --run= --map= --var= --ignore= --json --all --max-entries=' ;;
                query) opts+=' --json'; args=files ;;
            esac ;;
        kernel)
            case $sub in
                '') subs='fetch list check' ;;
                fetch) opts+=' --version= -q --quiet --print-dir --force --modules --refresh' ;;
                check) args=files ;;
            esac ;;
        btf)
            case $sub in
                '') subs='types render' ;;
                types) opts+=' --base= --filter='; args=files ;;
                render) opts+=' --btf= --base= --type= --hex= --data= --offset= --json --show-zero' ;;
            esac ;;
        doctor) opts+=' --json' ;;
    esac

    if [[ " ${opts//$'\n'/ } " == *" $prev= "* ]]; then
        case $prev in
            --color) _ktest_words 'auto always never' ;;
            --accel) _ktest_words 'auto kvm tcg' ;;
            -f | --format) _ktest_words 'text json junit tap' ;;
            --config | --kernel | --junit | --base | --btf | --data | -o | --output | --run) _ktest_paths ;;
            --output-dir | --object-path)
                compopt -o filenames 2>/dev/null
                mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
        esac
        return
    fi
    if [[ $cur == -* ]]; then
        _ktest_words "${opts//=/}"
    elif [[ -n $subs ]]; then
        _ktest_words "$subs"
    elif [[ $args == scenarios ]]; then
        _ktest_paths '*.yaml' '*.yml'
    elif [[ $args == files ]]; then
        _ktest_paths
    elif [[ $args == dirs ]]; then
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -d -- "$cur")
    fi
}

complete -F _ktest ktest
