# bash completion for ferry(1): the commands, each command's options, and their arguments.
# Installed by `make install` as $(PREFIX)/share/bash-completion/completions/ferry;
# tests/integration/test_install.sh checks it offers every command and option `ferry --help`
# and `ferry COMMAND --help` name.

_ferry_commands="serve echo check acme units version help"

_ferry_options() {
	case $1 in
	serve) echo "--config --root --listen --help" ;;
	echo) echo "--config --listen --help" ;;
	check) echo "--config --help" ;;
	acme) echo "--config --force --help" ;;
	units) echo "--config --mode --quadlet --podman-run --kube --native --image --binary --name
		--echo --listen --network --config-path --out --install --help" ;;
	version | help) echo "" ;;
	esac
}

_ferry() {
	local cur prev cmd i
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=""
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}

	# The command: the first word after "ferry" that is not an option (serve without one).
	cmd=""
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-*) ;;
		*)
			cmd=${COMP_WORDS[i]}
			break
			;;
		esac
	done

	# An option's argument.
	case $prev in
	-c | --config | --config-path)
		COMPREPLY=($(compgen -f -- "$cur"))
		compopt -o filenames 2>/dev/null
		return
		;;
	-r | --root | -o | --out)
		COMPREPLY=($(compgen -d -- "$cur"))
		compopt -o filenames 2>/dev/null
		return
		;;
	-b | --binary)
		COMPREPLY=($(compgen -f -- "$cur"))
		compopt -o filenames 2>/dev/null
		return
		;;
	-m | --mode)
		COMPREPLY=($(compgen -W "user system system-as=" -- "$cur"))
		[[ ${COMPREPLY[0]:-} == *= ]] && compopt -o nospace 2>/dev/null
		return
		;;
	-l | --listen | -i | --image | -n | --name | -N | --network)
		return # an address, an image, a name: nothing to offer
		;;
	esac

	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--help --version $(_ferry_options serve)" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$_ferry_commands" -- "$cur"))
		fi
		return
	fi
	case $cmd in
	help)
		((COMP_CWORD == i + 1)) && COMPREPLY=($(compgen -W "$_ferry_commands" -- "$cur"))
		return
		;;
	check)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$(_ferry_options check)" -- "$cur"))
		else
			COMPREPLY=($(compgen -f -- "$cur"))
			compopt -o filenames 2>/dev/null
		fi
		return
		;;
	esac
	COMPREPLY=($(compgen -W "$(_ferry_options "$cmd")" -- "$cur"))
}

complete -F _ferry ferry
