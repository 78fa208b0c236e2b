# SPDX-License-Identifier: Apache-2.0
# bash completion for dragonfly. Subcommands and flags come from the binary's own --help,
# so they always match the installed version.
# shellcheck disable=SC2207 # COMPREPLY=($(compgen ...)): words never hold blanks here

# _dragonfly_flags CMD...: "flag metavar" per line ("-" when the flag takes no value).
_dragonfly_flags()
{
    "$@" --help 2>/dev/null | awk '
        /^  +(-[a-zA-Z], )?--[a-z]/ {
            line = $0
            sub(/^ +/, "", line)
            short = ""
            if (line ~ /^-[a-zA-Z], /) {
                short = substr(line, 1, 2)
                line = substr(line, 5)
            }
            if (match(line, /  +/))
                line = substr(line, 1, RSTART - 1)
            n = split(line, f, " ")
            meta = n > 1 ? f[2] : "-"
            print f[1], meta
            if (short != "")
                print short, meta
        }'
}

_dragonfly()
{
    local cur prev words cword
    _init_completion || return

    local bin=$1 i sub='' nested=''
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
        -*) ;;
        *)
            if [[ -z $sub ]]; then
                sub=${words[i]}
            elif [[ $sub == cert && -z $nested ]]; then
                nested=${words[i]}
            fi
            ;;
        esac
    done

    local subs
    subs=$("$bin" --help 2>/dev/null | awk '/^subcommands:$/ { on = 1; next }
        on && /^  [a-z]/ { print $1 }')
    if [[ -z $sub ]]; then
        COMPREPLY=($(compgen -W "$subs help --help --version" -- "$cur"))
        return
    fi
    if [[ $sub == help ]]; then
        ((cword == 2)) && COMPREPLY=($(compgen -W "$subs" -- "$cur"))
        return
    fi
    if [[ $sub == cert && -z $nested ]]; then
        COMPREPLY=($(compgen -W "ca issue --help" -- "$cur"))
        return
    fi

    local flags meta
    flags=$(_dragonfly_flags "$bin" "$sub" ${nested:+"$nested"})
    if [[ $prev == -* ]]; then
        meta=$(awk -v f="$prev" '$1 == f { print $2; exit }' <<<"$flags")
        case $meta in
        "" | -) ;;
        DIR)
            _filedir -d
            return
            ;;
        FILE | PATH | PREFIX)
            _filedir
            return
            ;;
        *\|*)
            COMPREPLY=($(compgen -W "${meta//|/ }" -- "$cur"))
            return
            ;;
        *) return ;;
        esac
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(awk '{ print $1 }' <<<"$flags")" -- "$cur"))
    elif [[ $sub == get || $sub == dfget ]]; then
        _filedir
    fi
}
complete -F _dragonfly dragonfly
