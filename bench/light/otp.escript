#!/usr/bin/env escript
%% The OTP side of bench:light: a simple_one_for_one supervisor of N proc_lib children (gen_server), started one
%% by one; then K of them killed at once with exit(Pid, kill), timed until count_children says all are active again.
%% Prints one JSON line: {"n":N,"startMs":...,"startCpuMs":...,"bytesPerChild":...,"restartMs":...,"restartCpuMs":...};
%% CPU times are the VM's (erlang:statistics(runtime), all schedulers, 1 ms resolution).
-mode(compile).
-export([init/1, handle_call/3, handle_cast/2]).

main([NArg, KArg]) ->
    N = list_to_integer(NArg),
    K = list_to_integer(KArg),
    %% Reports off, as arbor's side runs with `logger: false`: both measure supervision, not logging.
    logger:set_primary_config(level, none),
    process_flag(trap_exit, true),
    {ok, Sup} = supervisor:start_link(?MODULE, sup),
    erlang:garbage_collect(),
    Mem0 = erlang:memory(processes),
    {Cpu0, _} = erlang:statistics(runtime),
    T0 = erlang:monotonic_time(microsecond),
    Pids = [begin {ok, Pid} = supervisor:start_child(Sup, []), Pid end || _ <- lists:seq(1, N)],
    T1 = erlang:monotonic_time(microsecond),
    {Cpu1, _} = erlang:statistics(runtime),
    [erlang:garbage_collect(P) || P <- processes()],
    Mem1 = erlang:memory(processes),
    Victims = lists:sublist(Pids, K),
    {Cpu2, _} = erlang:statistics(runtime),
    T2 = erlang:monotonic_time(microsecond),
    [exit(P, kill) || P <- Victims],
    %% From this process, is_process_alive/1 sees the kill signals it sent delivered: every victim is dead now, so
    %% count_children cannot answer N before the supervisor has restarted them all.
    [false = is_process_alive(P) || P <- Victims],
    wait_all_active(Sup, N),
    T3 = erlang:monotonic_time(microsecond),
    {Cpu3, _} = erlang:statistics(runtime),
    io:format("{\"n\":~b,\"k\":~b,\"startMs\":~.3f,\"startCpuMs\":~b,\"bytesPerChild\":~.1f,\"restartMs\":~.3f,\"restartCpuMs\":~b,\"otp\":\"~s\"}~n",
              [N, K, (T1 - T0) / 1000, Cpu1 - Cpu0, (Mem1 - Mem0) / N, (T3 - T2) / 1000, Cpu3 - Cpu2, erlang:system_info(otp_release)]).

wait_all_active(Sup, N) ->
    Counts = supervisor:count_children(Sup),
    case proplists:get_value(active, Counts) of
        N -> ok;
        _ -> wait_all_active(Sup, N)
    end.

%% supervisor callback: one template, a gen_server per child.
init(sup) ->
    {ok, {#{strategy => simple_one_for_one, intensity => 1000000, period => 1},
          [#{id => child, start => {gen_server, start_link, [?MODULE, child, []]}, restart => permanent, shutdown => 5000}]}};
%% gen_server callbacks of a child: it waits.
init(child) ->
    {ok, #{}}.

handle_call(_Request, _From, State) -> {reply, ok, State}.
handle_cast(_Request, State) -> {noreply, State}.
