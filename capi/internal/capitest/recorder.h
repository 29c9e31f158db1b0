#ifndef CAPITEST_RECORDER_H
#define CAPITEST_RECORDER_H
void capitest_reset(void);
void capitest_on_event(void *user_data, const char *event_json);
char *capitest_types(int *finals);
#endif
