# fish completion for ktest(1): commands, their flags, and scenario files
# (*.yaml, *.yml) for run and validate.

set -l commands run shell validate snapshot kernel btf doctor version
complete -c ktest -f
complete -c ktest -l color -x -a 'auto always never' -d 'Colour output'
complete -c ktest -l config -r -F -d 'Configuration file'
complete -c ktest -s h -l help -d 'Print help'

set -l top "not __fish_seen_subcommand_from $commands"
complete -c ktest -n $top -a run -d 'Boot a guest per scenario, run its steps, check its assertions'
complete -c ktest -n $top -a shell -d "Boot a guest, run a scenario's steps, open a shell in it"
complete -c ktest -n $top -a validate -d 'Check scenario files without running them'
complete -c ktest -n $top -a snapshot -d 'Inspect captured snapshots offline'
complete -c ktest -n $top -a kernel -d 'Fetch, list and check guest kernels'
complete -c ktest -n $top -a btf -d 'List BTF types and render bytes through BTF'
complete -c ktest -n $top -a doctor -d 'Check that this machine can run ktest'
complete -c ktest -n $top -a version -d 'Print version and build info'

set -l run '__fish_seen_subcommand_from run'
set -l boots '__fish_seen_subcommand_from run shell'
complete -c ktest -n $boots -l kernel -r -F -d 'Cached version, kernel directory or image'
complete -c ktest -n $boots -l cpus -x -d 'vCPUs (1-256)'
complete -c ktest -n $boots -l memory -x -d 'Guest memory, e.g. 1G'
complete -c ktest -n $boots -l accel -x -a 'auto kvm tcg' -d 'Accelerator'
complete -c ktest -n $boots -l cpu-model -x -d 'QEMU CPU model'
complete -c ktest -n $boots -s f -l format -x -a 'text json junit tap' -d 'Report format'
complete -c ktest -n $boots -l output-dir -x -a '(__fish_complete_directories)' -d 'Directory that receives the runs'
complete -c ktest -n $boots -l boot-timeout -x -d 'Boot timeout, e.g. 2m'
complete -c ktest -n $boots -l step-timeout -x -d 'Per-step timeout'
complete -c ktest -n $boots -l capture-timeout -x -d 'Per-capture timeout'
complete -c ktest -n $boots -l run-timeout -x -d 'Whole-scenario timeout'
complete -c ktest -n $boots -l object-path -x -a '(__fish_complete_directories)' -d 'Extra directory to find BPF objects in'
complete -c ktest -n $run -l json -d 'Print results as JSON'
complete -c ktest -n $run -l tap -d 'Print results as TAP version 13'
complete -c ktest -n $run -l junit -r -F -d 'Also write JUnit XML to FILE'
complete -c ktest -n $run -s j -l jobs -x -d 'Scenarios run in parallel guests'
complete -c ktest -n $run -l shard -x -d 'Run the I-th of N shares, e.g. 1/4'
complete -c ktest -n $boots -s q -l quiet -d 'No progress lines'
complete -c ktest -n $run -l shell-on-fail -d 'Open a shell in the guest when a step or an assertion fails'
complete -c ktest -n '__fish_seen_subcommand_from shell' -l until -x -d 'Run only the first N steps'
complete -c ktest -n '__fish_seen_subcommand_from run shell validate' \
    -a '(__fish_complete_suffix .yaml; __fish_complete_suffix .yml)'

set -l snapshot '__fish_seen_subcommand_from snapshot; and not __fish_seen_subcommand_from dump query'
complete -c ktest -n $snapshot -a dump -d 'Print captured snapshots as text or JSON'
complete -c ktest -n $snapshot -a query -d 'Evaluate an assertion expression against captured snapshots'
set -l dump '__fish_seen_subcommand_from dump'
complete -c ktest -n $dump -l snapshot -x -d 'Only this snapshot'
complete -c ktest -n $dump -l map -x -d 'Only this BPF map'
complete -c ktest -n $dump -l path -x -d 'Dotted path inside the map value'
complete -c ktest -n $dump -l json -d 'Print JSON instead of text'
complete -c ktest -n $dump -l show-zero -d 'Also print all-zero members'
complete -c ktest -n $dump -l hex -d 'Also print raw key/value bytes'
complete -c ktest -n $dump -l max-entries -x -d 'At most N entries per map'
complete -c ktest -n '__fish_seen_subcommand_from query' -l json -d 'Print the value as JSON'

set -l kernel '__fish_seen_subcommand_from kernel; and not __fish_seen_subcommand_from fetch list check'
complete -c ktest -n $kernel -a fetch -d 'Download a kernel into the cache'
complete -c ktest -n $kernel -a list -d 'List cached kernels'
complete -c ktest -n $kernel -a check -d 'Check that a kernel configuration has what ktest needs'
set -l fetch '__fish_seen_subcommand_from fetch'
complete -c ktest -n $fetch -l version -x -d 'This kernel version instead of the newest'
complete -c ktest -n $fetch -s q -l quiet -d 'No progress messages'
complete -c ktest -n $fetch -l print-dir -d 'Print the kernel directory on stdout'
complete -c ktest -n $fetch -l force -d 'Download again even when cached'
complete -c ktest -n $fetch -l modules -d 'Also fetch the loadable modules'
complete -c ktest -n $fetch -l refresh -d 'Update the package list now'

set -l btf '__fish_seen_subcommand_from btf; and not __fish_seen_subcommand_from types render'
complete -c ktest -n $btf -a types -d 'List the types in a BTF file'
complete -c ktest -n $btf -a render -d 'Render bytes as a value of a BTF type'
complete -c ktest -n '__fish_seen_subcommand_from types' -l base -r -F -d 'Load FILE as split BTF on this base'
complete -c ktest -n '__fish_seen_subcommand_from types' -l filter -x -d 'Only names matching this regular expression'
set -l render '__fish_seen_subcommand_from render'
complete -c ktest -n $render -l btf -r -F -d 'BPF object, vmlinux or raw BTF'
complete -c ktest -n $render -l base -r -F -d 'Load --btf as split BTF on this base'
complete -c ktest -n $render -l type -x -d 'Type name or id'
complete -c ktest -n $render -l hex -x -d 'The bytes in hex'
complete -c ktest -n $render -l data -r -F -d 'Read the bytes from this file'
complete -c ktest -n $render -l offset -x -d 'Skip this many input bytes first'
complete -c ktest -n $render -l json -d 'Print the RenderedValue as JSON'
complete -c ktest -n $render -l show-zero -d 'Also print zero members'

complete -c ktest -n '__fish_seen_subcommand_from doctor' -l json -d 'Print the checks as JSON'

# Reports, run directories, kernels and BTF files are paths.
complete -c ktest -n '__fish_seen_subcommand_from dump query check types' -F
