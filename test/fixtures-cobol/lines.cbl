      * Writes LINE-REC records to a LINE SEQUENTIAL file (one record
      * per line, trailing spaces stripped) and DISPLAYs what it wrote
      * ("lines WRITE"), or reads the file named by DD_LINEFILE and
      * DISPLAYs what it read ("lines READ").
       IDENTIFICATION DIVISION.
       PROGRAM-ID. LINES.
       ENVIRONMENT DIVISION.
       INPUT-OUTPUT SECTION.
       FILE-CONTROL.
           SELECT LINE-FILE ASSIGN TO "LINEFILE"
               ORGANIZATION IS LINE SEQUENTIAL
               FILE STATUS IS WS-STATUS.
       DATA DIVISION.
       FILE SECTION.
       FD  LINE-FILE.
       COPY "lines.cpy".
       WORKING-STORAGE SECTION.
       01  WS-MODE             PIC X(5).
       01  WS-STATUS           PIC XX.
       01  WS-EOF              PIC X VALUE "N".
       01  WS-I                PIC S9(4) COMP.
       01  WS-SIGN             PIC S9 COMP.
       PROCEDURE DIVISION.
           ACCEPT WS-MODE FROM COMMAND-LINE
           IF WS-MODE = "WRITE"
               PERFORM WRITE-ALL
           ELSE
               PERFORM READ-ALL
           END-IF
           STOP RUN.

       WRITE-ALL.
           OPEN OUTPUT LINE-FILE
           PERFORM VARYING WS-I FROM 1 BY 1 UNTIL WS-I > 9
               IF FUNCTION MOD(WS-I, 3) = 0
                   MOVE 1 TO WS-SIGN
               ELSE
                   MOVE -1 TO WS-SIGN
               END-IF
               MOVE WS-I TO L-ID
               MOVE SPACES TO L-NAME L-NOTE
               MOVE FUNCTION CHAR(66 + WS-I) TO L-NAME
               IF WS-I > 4
                   MOVE "NOTE" TO L-NOTE
               END-IF
               COMPUTE L-AMT = WS-SIGN * WS-I * 1234.57
               COMPUTE L-QTY = WS-SIGN * WS-I * 11
               COMPUTE L-RATE = WS-SIGN * WS-I * 0.987
               WRITE LINE-REC
               PERFORM SHOW-RECORD
           END-PERFORM
           CLOSE LINE-FILE.

       READ-ALL.
           OPEN INPUT LINE-FILE
           IF WS-STATUS NOT = "00"
               DISPLAY "OPEN FAILED " WS-STATUS
               STOP RUN
           END-IF
           PERFORM UNTIL WS-EOF = "Y"
               READ LINE-FILE
                   AT END MOVE "Y" TO WS-EOF
                   NOT AT END PERFORM SHOW-RECORD
               END-READ
           END-PERFORM
           CLOSE LINE-FILE.

       SHOW-RECORD.
           DISPLAY "RECORD"
           DISPLAY "L-ID=" L-ID
           DISPLAY "L-NAME=" L-NAME
           DISPLAY "L-AMT=" L-AMT
           DISPLAY "L-QTY=" L-QTY
           DISPLAY "L-RATE=" L-RATE
           DISPLAY "L-NOTE=" L-NOTE.
