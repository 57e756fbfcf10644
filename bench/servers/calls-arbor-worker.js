// The arbor side of the calls bench: answers every call with the message it got.
import { onMessage, ready } from 'arbor-otp/worker';

onMessage((message) => message);
ready();
