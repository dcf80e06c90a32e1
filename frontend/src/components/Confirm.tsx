// ConfirmButton asks before a destructive action, inline next to the button
// (never window.confirm): the question, a button that does it and one that doesn't.
import { useEffect, useRef, useState } from 'react';

export function ConfirmButton({
  label,
  question,
  yes,
  onConfirm,
  busy,
}: {
  label: string;
  question: string;
  yes: string;
  onConfirm: () => void | Promise<void>;
  busy?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  const keep = useRef<HTMLButtonElement>(null);
  const again = useRef<HTMLButtonElement>(null);
  const wasAsking = useRef(false);
  useEffect(() => {
    // Focus follows the question, and back to the button when it is answered "no".
    if (asking) keep.current?.focus();
    else if (wasAsking.current) again.current?.focus();
    wasAsking.current = asking;
  }, [asking]);
  if (!asking) {
    return (
      <button ref={again} type="button" className="danger" disabled={busy} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <span className="forge-confirm" role="group" aria-label={question}>
      <span>{question}</span>
      <button
        type="button"
        className="danger"
        disabled={busy}
        onClick={() => {
          void Promise.resolve(onConfirm()).finally(() => setAsking(false));
        }}
      >
        {yes}
      </button>
      <button ref={keep} type="button" onClick={() => setAsking(false)} onKeyDown={(e) => e.key === 'Escape' && setAsking(false)}>
        No, keep it
      </button>
    </span>
  );
}
