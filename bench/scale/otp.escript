#!/usr/bin/env escript
%% The same shape on real OTP: a simple_one_for_one supervisor of N permanent children (each a process that waits),
%% N started, then K killed at once with exit(Pid, kill), timed until every one of them has been started again.
%% Each child tells a collector when it starts, so the clock stops at the last restart, without polling.
%% Prints one JSON line: {"n":N,"k":K,"startMs":..,"restartMs":..,"bytesPerChild":..}.
-mode(compile).
-export([init/1, start_child/1]).

main([NArg, KArg]) ->
    N = list_to_integer(NArg),
    K = list_to_integer(KArg),
    %% arbor's side runs with a silent logger: so does this one (supervisor reports would be most of the time).
    logger:set_primary_config(level, none),
    Collector = self(),
    {ok, Sup} = supervisor:start_link(?MODULE, {sup, Collector}),
    unlink(Sup),
    erlang:garbage_collect(),
    MemBefore = erlang:memory(processes),
    T0 = erlang:monotonic_time(microsecond),
    Pids = [begin {ok, P} = supervisor:start_child(Sup, []), P end || _ <- lists:seq(1, N)],
    T1 = erlang:monotonic_time(microsecond),
    drain(N),
    MemAfter = erlang:memory(processes),
    Victims = lists:sublist(shuffle(Pids), K),
    {Cpu0, _} = statistics(runtime),
    T2 = erlang:monotonic_time(microsecond),
    [exit(P, kill) || P <- Victims],
    await(K),
    T3 = erlang:monotonic_time(microsecond),
    {Cpu1, _} = statistics(runtime),
    #{active := Active} = maps:from_list(supervisor:count_children(Sup)),
    io:format("{\"n\":~p,\"k\":~p,\"startMs\":~.3f,\"restartMs\":~.3f,\"restartCpuMs\":~p,\"bytesPerChild\":~.1f,\"active\":~p}~n",
              [N, K, (T1 - T0) / 1000, (T3 - T2) / 1000, Cpu1 - Cpu0, (MemAfter - MemBefore) / N, Active]).

init({sup, Collector}) ->
    {ok, {#{strategy => simple_one_for_one, intensity => 1000000, period => 1},
          [#{id => child, start => {?MODULE, start_child, [Collector]}, restart => permanent,
             shutdown => brutal_kill, type => worker}]}}.

start_child(Collector) ->
    Pid = spawn_link(fun() -> Collector ! started, receive stop -> ok end end),
    {ok, Pid}.

drain(0) -> ok;
drain(N) -> receive started -> drain(N - 1) end.

await(0) -> ok;
await(K) -> receive started -> await(K - 1) after 60000 -> erlang:error(timeout) end.

shuffle(L) -> [X || {_, X} <- lists:sort([{rand:uniform(), X} || X <- L])].
