// Package bench measures the monitor's sampling strategy against the 2018
// design it replaces, the monitor watching a fleet of tokens, and the
// webhook's hot paths.
//
// The coverage benchmarks drive the real monitor.Monitor, through its Lambda
// handler and the real ChatWork client, against the ChatWork simulator, on
// the simulator's virtual clock. A discrete-event loop (sched) plays the
// parts of AWS around it: EventBridge Scheduler ticks with jitter, SQS
// wake-ups with their whole-second delay and a delivery lag, Lambda
// containers that serve one invocation at a time (a second concurrent
// invocation gets a fresh container, as on Lambda), and other programs
// sharing each token. A tick's concurrent readings of several tokens run as
// processes of the loop (monitor.Config.Each). Lambda billing is modelled
// per invocation; see Params.
//
// The lead-time benchmarks (RunWarn) add CloudWatch's part: the records a
// run wrote become datapoints after an EMF delay, the alarms' stand-in
// (alarm.Evaluator, as in the sandbox) evaluates them every minute, and a
// state change reaches the room after EventBridge and the webhook
// function, told as bot.Episode tells it; the simulator says when each
// window came to the threshold and ran dry. See CloudWatch and Alarms.
//
// BENCHMARKS.md at the repository root has the commands, the figures and
// what they mean.
package bench
